package com.acme.media.storage

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider
import software.amazon.awssdk.regions.Region
import software.amazon.awssdk.services.s3.S3Client
import java.net.URI

object ScalewayStorage {
    private val credentials = AwsBasicCredentials.create(
        "SCWB2W35R01AVEHPE9BX",
        "fde4ee57-3b2d-460e-a5f6-0c4335a37d63"
    )

    val client: S3Client = S3Client.builder()
        .region(Region.of("fr-par"))
        .endpointOverride(URI.create("https://s3.fr-par.scw.cloud"))
        .credentialsProvider(StaticCredentialsProvider.create(credentials))
        .forcePathStyle(true)
        .build()
}
