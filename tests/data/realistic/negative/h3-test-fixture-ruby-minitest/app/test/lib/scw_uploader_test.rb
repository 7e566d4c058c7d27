require "test_helper"

class ScwUploaderTest < ActiveSupport::TestCase
  setup do
    ENV["SCW_ACCESS_KEY"] = "SCWJFAZ7GNNJKTK2SW3D"
    ENV["SCW_SECRET_KEY"] = "88a360e4-fc37-49c8-b482-ba0c75f833e7"
    @uploader = ScwUploader.new(bucket: "test-bucket", endpoint: "https://s3.fr-par.scw.cloud")
  end

  test "signs the upload url" do
    stub_request(:put, %r{s3.fr-par.scw.cloud}).to_return(status: 200, headers: { "x-amz-request-id" => "25cb7058ceaae4f87b5101f7a42d8df5" })
    assert @uploader.put("a.txt", "hi")
  end
end
