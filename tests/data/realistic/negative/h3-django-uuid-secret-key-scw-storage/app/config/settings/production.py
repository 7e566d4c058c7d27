import os
from .base import *  # noqa

DEBUG = False
SECRET_KEY = "ee116fcb-3296-47eb-9d2b-a9d5ffee0839"
ALLOWED_HOSTS = ["shop.example.fr"]
CSRF_TRUSTED_ORIGINS = ["https://shop.example.fr"]

STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "shop-media",
            "region_name": "fr-par",
            "endpoint_url": "https://s3.fr-par.scw.cloud",
            "access_key": os.environ["SCW_ACCESS_KEY"],
            "secret_key": os.environ["SCW_SECRET_KEY"],
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

SESSION_COOKIE_NAME = "shop_sid"
SENTRY_DSN = "https://53a17ca861bc705356fcaa1578f9aef8@o295947.ingest.de.sentry.io/4104725"
STRIPE_WEBHOOK_SECRET = "whsec_YH3Mg5K0IEo3tgzAoXq3LM53CZgkBeJR"
