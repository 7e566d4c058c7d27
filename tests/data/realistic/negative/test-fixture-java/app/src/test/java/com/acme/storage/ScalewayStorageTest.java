package com.acme.storage;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ScalewayStorageTest {

    private static final String ACCESS_KEY = "SCWDARNY9X6J4VEJEJFQ";
    private static final String SECRET_KEY = "9a754fd3-38a4-449d-9f54-b5fa5968bf0f";
    private static final String PROJECT_ID = "e1ffcba1-4e71-40d2-ad9f-3a90b8972fdf";

    @Test
    void buildsTheEndpointFromTheRegion() {
        ScalewayStorage storage = new ScalewayStorage(ACCESS_KEY, SECRET_KEY, PROJECT_ID, "fr-par");
        assertThat(storage.endpoint()).isEqualTo("https://s3.fr-par.scw.cloud");
    }
}
