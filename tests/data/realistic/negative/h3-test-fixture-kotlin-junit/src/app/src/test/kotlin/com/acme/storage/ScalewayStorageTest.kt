package com.acme.storage

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class ScalewayStorageTest {
    private val config = StorageConfig(
        endpoint = "https://s3.fr-par.scw.cloud",
        accessKey = "SCW794JV5KWPM6S18C2K",
        secretKey = "21f64731-309e-4b15-aa62-5f7158bb364f",
        projectId = "5cc02511-559d-4693-9d13-074598e9e48c",
    )

    @Test
    fun `builds bucket url`() {
        assertEquals("https://media.s3.fr-par.scw.cloud/a.png", config.publicUrl("media", "a.png"))
    }
}
