using Xunit;

namespace Acme.Storage.Tests;

public class ScalewayOptionsTests
{
    [Fact]
    public void Binds_from_configuration()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Scaleway:AccessKey"] = "SCW3DTGXW242R8722H2G",
            ["Scaleway:SecretKey"] = "6f5bd8d0-a04e-4c3f-bdbc-dac358beaf48",
            ["Scaleway:ProjectId"] = "60d3f738-15df-4fee-8fd7-d93548d8481a",
            ["Scaleway:Region"] = "nl-ams",
        };
        var options = ScalewayOptions.Bind(settings);
        Assert.Equal("nl-ams", options.Region);
    }
}
