"""Model states and the messages that go with them."""

TRAINING = "TRAINING"
TRAINED = "TRAINED"
TRAINING_FAILED = "TRAINING_FAILED"
STARTING_HOSTING = "STARTING_HOSTING"
HOSTED = "HOSTED"
HOSTING_FAILED = "HOSTING_FAILED"
STOPPING_HOSTING = "STOPPING_HOSTING"
DELETING = "DELETING"

MESSAGES = {
    TRAINED: "Training completed successfully.",
    STARTING_HOSTING: "Hosting starting.",
    HOSTED: "The model is running.",
    STOPPING_HOSTING: "Hosting stopping.",
}
IMPORTED_MESSAGE = "The model was imported and is ready to start."
STOPPED_MESSAGE = "The model was stopped."

STARTABLE = (TRAINED, HOSTING_FAILED)
DELETABLE = (TRAINED, TRAINING_FAILED, HOSTING_FAILED)
