import boto3
import pandas as pd

session = boto3.session.Session()
s3 = session.client(
    service_name="s3",
    region_name="nl-ams",
    endpoint_url="https://s3.nl-ams.scw.cloud",
    aws_access_key_id="SCWBE54E2YX0X5PVV1VA",
    aws_secret_access_key="06f44d9b-dd4c-4250-8f36-f0164ac6365d",
)


def export(df: pd.DataFrame, key: str) -> None:
    df.to_parquet("/tmp/out.parquet")
    s3.upload_file("/tmp/out.parquet", "etl-exports", key)
