param(
    [string]$Bucket = "www-acme-fr"
)

$env:AWS_ACCESS_KEY_ID = "SCW1M90PCCN1JKJZH22K"
$env:AWS_SECRET_ACCESS_KEY = "bdf4d943-1588-46bc-8495-874b31865e2e"
aws s3 sync .\public "s3://$Bucket/" --endpoint-url https://s3.fr-par.scw.cloud --delete
