"""A program written for the real service, the way Microsoft's Python quickstart is written.

It reads its endpoints and keys from the VISION_* environment variables and knows nothing
about cvspec. tests/test_sdk_sample.py runs it unmodified against `cvspec emulator serve`.
Usage: python quickstart.py IMAGE_DIR   (IMAGE_DIR has one sub-folder of images per tag)
"""

import os
import sys
import time
import uuid

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from msrest.authentication import ApiKeyCredentials

ENDPOINT = os.environ["VISION_TRAINING_ENDPOINT"]
training_key = os.environ["VISION_TRAINING_KEY"]
prediction_endpoint = os.environ["VISION_PREDICTION_ENDPOINT"]
prediction_key = os.environ["VISION_PREDICTION_KEY"]
prediction_resource_id = os.environ["VISION_PREDICTION_RESOURCE_ID"]

credentials = ApiKeyCredentials(in_headers={"Training-key": training_key})
trainer = CustomVisionTrainingClient(ENDPOINT, credentials)
prediction_credentials = ApiKeyCredentials(in_headers={"Prediction-key": prediction_key})
predictor = CustomVisionPredictionClient(prediction_endpoint, prediction_credentials)

publish_iteration_name = "classifyModel"
base_image_location = sys.argv[1]

print("Creating project...")
project_name = uuid.uuid4()
project = trainer.create_project(project_name)

tags = {}
for tag_name in sorted(os.listdir(base_image_location)):
    tags[tag_name] = trainer.create_tag(project.id, tag_name)

print("Adding images...")
image_list = []
for tag_name, tag in tags.items():
    folder = os.path.join(base_image_location, tag_name)
    for file_name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, file_name), "rb") as image_contents:
            image_list.append(
                ImageFileCreateEntry(
                    name=file_name, contents=image_contents.read(), tag_ids=[tag.id]
                )
            )

upload_result = trainer.create_images_from_files(
    project.id, ImageFileCreateBatch(images=image_list)
)
if not upload_result.is_batch_successful:
    print("Image batch upload failed.")
    for image in upload_result.images:
        print("Image status: ", image.status)
    sys.exit(-1)

print("Training...")
iteration = trainer.train_project(project.id)
while iteration.status != "Completed":
    iteration = trainer.get_iteration(project.id, iteration.id)
    print("Training status: " + iteration.status)
    print("Waiting 1 seconds...")
    time.sleep(1)

trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, prediction_resource_id)
print("Done!")

for tag_name in tags:
    folder = os.path.join(base_image_location, tag_name)
    first = sorted(os.listdir(folder))[0]
    with open(os.path.join(folder, first), "rb") as image_contents:
        results = predictor.classify_image(
            project.id, publish_iteration_name, image_contents.read()
        )
    for prediction in results.predictions:
        print(f"{first}\t{prediction.tag_name}: {prediction.probability * 100:.2f}%")

trainer.unpublish_iteration(project.id, iteration.id)
trainer.delete_project(project.id)
print("Deleted project.")
