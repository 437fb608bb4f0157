"""Example site: uploads go to the image-optimizer bucket, pages show the optimised renditions.

Against the local flow, export what `make run ARGS=--watch` prints (AWS_S3_ENDPOINT_URL, AWS_STORAGE_BUCKET_NAME,
credentials, region). Against AWS, leave AWS_S3_ENDPOINT_URL unset and name the deployed bucket.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "image_optimizer.contrib.django",  # the {% load image_optimizer %} filters
    "gallery",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "django_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
WSGI_APPLICATION = "django_site.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

# Every FileField/ImageField without its own storage writes raw uploads to incoming/ and stores the final name.
STORAGES = {
    "default": {"BACKEND": "image_optimizer.contrib.django.IncomingImageStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# django-storages' usual settings; unset means real AWS with the default credential chain.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "image-optimizer-local")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL")
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME", "us-east-1")
# Only if you changed the function's settings in template.yaml (the storage defaults to the function's own):
# IMAGE_OPTIMIZER_INCOMING_PREFIX = "incoming/"
# IMAGE_OPTIMIZER_OUTPUT_PREFIX = "media/"
# IMAGE_OPTIMIZER_FAILED_PREFIX = "failed/"
# IMAGE_OPTIMIZER_THUMBNAILS = "thumb:150x150:smart,small:320x320:fit"
