from .base import *  # noqa

DEBUG = False
ALLOWED_HOSTS = ["www.example.fr"]

STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "mysite-media",
            "region_name": "fr-par",
            "endpoint_url": "https://s3.fr-par.scw.cloud",
            "access_key": "SCW5KJ83V6CQZH9W0SBC",
            "secret_key": "e5e0ca19-43bf-4d30-8b88-f4fc225bf062",
            "default_acl": "public-read",
        },
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    },
}
