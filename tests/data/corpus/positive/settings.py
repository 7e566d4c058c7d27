from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEBUG = False
ALLOWED_HOSTS = ["shop.acme-corp.fr"]

# Media on Object Storage (django-storages)
AWS_S3_ENDPOINT_URL = "https://s3.fr-par.scw.cloud"
AWS_S3_REGION_NAME = "fr-par"
AWS_STORAGE_BUCKET_NAME = "storefront-media"
SCALEWAY_ACCESS_KEY = "SCWQHEZEWQDB3Z102QDC"
SCALEWAY_SECRET_KEY = "67d07995-d2a6-4189-8942-c4fab14a6da7"
AWS_ACCESS_KEY_ID = SCALEWAY_ACCESS_KEY
AWS_SECRET_ACCESS_KEY = SCALEWAY_SECRET_KEY
DEFAULT_FILE_STORAGE = "storages.backends.s3boto3.S3Boto3Storage"
