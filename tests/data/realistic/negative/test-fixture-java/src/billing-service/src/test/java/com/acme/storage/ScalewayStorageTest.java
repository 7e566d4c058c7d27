package com.acme.storage;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ScalewayStorageTest {

    private static final String ACCESS_KEY = "SCWKS9DG628YRZPCZ0VF";
    private static final String SECRET_KEY = "df7767fa-53f3-4a87-98a4-b7fd39dacf5f";
    private static final String PROJECT_ID = "09c2bea5-8c13-4713-813b-087a1de67245";

    @Test
    void buildsTheEndpointFromTheRegion() {
        ScalewayStorage storage = new ScalewayStorage(ACCESS_KEY, SECRET_KEY, PROJECT_ID, "fr-par");
        assertThat(storage.endpoint()).isEqualTo("https://s3.fr-par.scw.cloud");
    }
}
