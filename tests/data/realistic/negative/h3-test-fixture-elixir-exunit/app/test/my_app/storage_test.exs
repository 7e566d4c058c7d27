defmodule MyApp.StorageTest do
  use ExUnit.Case, async: true

  @config [
    access_key_id: "SCWD1VDJ9CNVX313TQZG",
    secret_access_key: "c4ba204c-0300-48d1-84e7-ed64afae7b81",
    s3: [scheme: "https://", host: "s3.fr-par.scw.cloud", region: "fr-par"]
  ]

  test "presigned url points at Scaleway" do
    {:ok, url} = MyApp.Storage.presign("uploads", "a.png", @config)
    assert url =~ "s3.fr-par.scw.cloud"
  end
end
