<?php

namespace App;

use Aws\Sns\SnsClient;

final class Notifier
{
    private SnsClient $sns;

    public function __construct()
    {
        $this->sns = new SnsClient([
            'version' => '2010-03-31',
            'region' => 'fr-par',
            'endpoint' => 'https://sns.mnq.fr-par.scaleway.com',
            'credentials' => [
                'key' => 'S1cQ06ZQxQFfkKQuvyja',
                'secret' => '9QrHOQU7LT4xsxz8mwYO0uBQuOqRhvdVtKHQTV5cp0QGcbLMmwPUfEWBCjJkWnLj',
            ],
        ]);
    }

    public function publish(string $topicArn, string $message): void
    {
        $this->sns->publish(['TopicArn' => $topicArn, 'Message' => $message]);
    }
}
