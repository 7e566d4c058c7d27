<?php

return [

    'default' => env('FILESYSTEM_DISK', 'local'),

    'disks' => [

        'local' => [
            'driver' => 'local',
            'root' => storage_path('app/private'),
            'serve' => true,
            'throw' => false,
        ],

        's3' => [
            'driver' => 's3',
            'key' => env('AWS_ACCESS_KEY_ID', 'SCW4WEWTKQ0A8JB3BD0F'),
            'secret' => env('AWS_SECRET_ACCESS_KEY', 'e3f5af36-cdea-499a-bfb1-f0ab891ece32'),
            'region' => env('AWS_DEFAULT_REGION', 'fr-par'),
            'bucket' => env('AWS_BUCKET', 'acme-laravel'),
            'url' => env('AWS_URL'),
            'endpoint' => env('AWS_ENDPOINT', 'https://s3.fr-par.scw.cloud'),
            'use_path_style_endpoint' => env('AWS_USE_PATH_STYLE_ENDPOINT', true),
            'throw' => false,
        ],

    ],

];
