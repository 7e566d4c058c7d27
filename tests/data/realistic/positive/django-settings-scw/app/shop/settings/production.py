from .base import *  # noqa

DEBUG = False
ALLOWED_HOSTS = ["shop.example.org"]

STORAGES = {
    "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    "staticfiles": {"BACKEND": "storages.backends.s3.S3ManifestStaticStorage"},
}
AWS_ACCESS_KEY_ID = "SCWFVC6FZKGYKFAXM71F"
AWS_SECRET_ACCESS_KEY = "babe05cc-cf0f-4f62-a415-ac46929612ad"
AWS_STORAGE_BUCKET_NAME = "shop-media"
AWS_S3_REGION_NAME = "fr-par"
AWS_S3_ENDPOINT_URL = "https://s3.fr-par.scw.cloud"
AWS_DEFAULT_ACL = "public-read"

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "smtp.tem.scaleway.com"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
EMAIL_HOST_USER = "2d902b87-31a0-4d45-98a2-42195d6002a1"
EMAIL_HOST_PASSWORD = "2b9e5aa4-8063-4316-ae0d-6a00e87271a4"
DEFAULT_FROM_EMAIL = "Shop <no-reply@shop.example.org>"
