"""Tags on models: ARNs travel percent-encoded in the path; limits come from the spec."""

from __future__ import annotations

import pytest

from tests.support.live import import_model
from tests.support.onnx_models import classifier_bundle

ARN = "arn:aws:lookoutvision:us-east-1:123456789012:model/parts/1"


@pytest.fixture
def model(tmp_path, http, lfv):
    import_model(http, "parts", classifier_bundle(tmp_path / "b"))
    return ARN


def test_tag_list_untag(lfv, model):
    assert lfv.list_tags_for_resource(ResourceArn=model)["Tags"] == []
    lfv.tag_resource(
        ResourceArn=model, Tags=[{"Key": "team", "Value": "vision"}, {"Key": "Größe", "Value": ""}]
    )
    lfv.tag_resource(ResourceArn=model, Tags=[{"Key": "team", "Value": "optics/qa"}])  # overwrites
    assert lfv.list_tags_for_resource(ResourceArn=model)["Tags"] == [
        {"Key": "Größe", "Value": ""},
        {"Key": "team", "Value": "optics/qa"},
    ]
    lfv.untag_resource(ResourceArn=model, TagKeys=["team", "absent"])
    assert lfv.list_tags_for_resource(ResourceArn=model)["Tags"] == [{"Key": "Größe", "Value": ""}]


def test_tags_go_with_the_model(lfv, http, model, tmp_path):
    lfv.tag_resource(ResourceArn=model, Tags=[{"Key": "k", "Value": "v"}])
    lfv.delete_model(ProjectName="parts", ModelVersion="1")
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.list_tags_for_resource(ResourceArn=model)
    import_model(http, "parts", classifier_bundle(tmp_path / "again"))
    assert lfv.list_tags_for_resource(ResourceArn=ARN.replace("/1", "/2"))["Tags"] == []


def test_at_most_50_tags_per_model(lfv, model):
    lfv.tag_resource(ResourceArn=model, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with pytest.raises(lfv.exceptions.ServiceQuotaExceededException) as caught:
        lfv.tag_resource(ResourceArn=model, Tags=[{"Key": "one-more", "Value": "v"}])
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert (response["ServiceCode"], response["QuotaCode"]) == ("lookoutvision", "tags-per-model")
    assert len(lfv.list_tags_for_resource(ResourceArn=model)["Tags"]) == 50
    lfv.tag_resource(ResourceArn=model, Tags=[{"Key": "k0", "Value": "replaced"}])  # overwriting adds none


@pytest.mark.parametrize(
    ("arn", "error"),
    [
        ("arn:aws:lookoutvision:us-east-1:123456789012:project/parts", "ValidationException"),
        ("not-an-arn", "ValidationException"),
        ("arn:aws:lookoutvision:us-east-1:123456789012:model/parts/9", "ResourceNotFoundException"),
        ("arn:aws:lookoutvision:eu-west-1:123456789012:model/parts/1", "ResourceNotFoundException"),
        ("arn:aws:lookoutvision:us-east-1:111122223333:model/parts/1", "ResourceNotFoundException"),
    ],
)
def test_bad_arns(lfv, model, arn, error):
    with pytest.raises(lfv.exceptions.ClientError) as caught:
        lfv.list_tags_for_resource(ResourceArn=arn)
    assert caught.value.response["Error"]["Code"] == error


def test_tag_values_are_validated_by_the_spec(make_client, model):
    from tests.handlers.test_projects import UNCHECKED

    lfv = make_client(config=UNCHECKED)
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.tag_resource(
            ResourceArn=model, Tags=[{"Key": "bad;key", "Value": "v"}, {"Key": "k", "Value": "x" * 257}]
        )
    message = caught.value.response["Error"]["Message"]
    assert "tags.1.member.key" in message and "tags.2.member.value" in message
