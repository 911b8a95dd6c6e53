"""The service's limits that the model's shapes do not state, in one place for every component that checks them."""

IMAGE_MIN_SIDE = 64  # pixels, for dataset images and DetectAnomalies alike
IMAGE_MAX_SIDE = 4096
IMAGE_MAX_BYTES = 8 * 1024 * 1024  # a DetectAnomalies body
CONTENT_TYPES = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
}  # DetectAnomalies' ContentType, and the format it names
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # file names of those formats, for reading folders of images
