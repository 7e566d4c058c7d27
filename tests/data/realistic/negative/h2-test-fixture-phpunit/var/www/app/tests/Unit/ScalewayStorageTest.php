<?php

namespace Tests\Unit;

use App\Storage\ScalewayStorage;
use PHPUnit\Framework\TestCase;

class ScalewayStorageTest extends TestCase
{
    public function test_it_builds_the_endpoint(): void
    {
        $storage = new ScalewayStorage([
            'key' => 'SCWR42RS463JCSAFG5PT',
            'secret' => 'b3249072-dc55-4cbf-a9a3-65411d6761d7',
            'region' => 'nl-ams',
            'bucket' => 'test-bucket',
        ]);

        $this->assertSame('https://s3.nl-ams.scw.cloud', $storage->endpoint());
    }
}
