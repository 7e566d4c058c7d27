RSpec.configure do |config|
  config.before(:each, :scaleway) do
    stub_const("ENV", ENV.to_h.merge(
      "SCW_ACCESS_KEY" => "SCWJKNCCGSG0JJK2P4SP",
      "SCW_SECRET_KEY" => "f144537f-7392-474f-9495-548bfda5ae29",
      "SCW_DEFAULT_PROJECT_ID" => "8df03f9e-ebd9-40d9-b04c-ee66d38f00c2"
    ))
    stub_request(:get, %r{https://api.scaleway.com/instance/v1/zones/fr-par-1/servers})
      .to_return(status: 200, body: { servers: [{ id: "4670ff26-4e83-4cb6-b56e-09b90ea6ee3e" }] }.to_json)
  end
end
