use s3::creds::Credentials;
use s3::{Bucket, Region};

pub fn bucket() -> anyhow::Result<Box<Bucket>> {
    let region = Region::Custom {
        region: "fr-par".to_owned(),
        endpoint: "https://s3.fr-par.scw.cloud".to_owned(),
    };
    let credentials = Credentials::new(
        Some("SCW6PBYYZF9Y9MRQEF1Q"),
        Some("d03db8f1-df95-42ae-a35d-d605de1cf051"),
        None,
        None,
        None,
    )?;
    let bucket = Bucket::new("media-prod", region, credentials)?.with_path_style();
    Ok(bucket)
}
