package com.acme.storage;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ScalewayStorageTest {

    private static final String ACCESS_KEY = "SCW7EB4KRV4Y1CJ3DC2W";
    private static final String SECRET_KEY = "dce49447-ef29-4395-bcf0-78d54ba76617";
    private static final String PROJECT_ID = "b4b20a5b-d772-4323-88d2-eb706afe54b7";

    @Test
    void buildsTheEndpointFromTheRegion() {
        ScalewayStorage storage = new ScalewayStorage(ACCESS_KEY, SECRET_KEY, PROJECT_ID, "fr-par");
        assertThat(storage.endpoint()).isEqualTo("https://s3.fr-par.scw.cloud");
    }
}
