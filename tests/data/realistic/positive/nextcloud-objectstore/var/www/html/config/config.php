<?php
$CONFIG = array (
  'instanceid' => 'ocvhgylimiy2',
  'passwordsalt' => 'C70mU4wyEAXL5recsBYWspRxbyFx04',
  'secret' => 'GntMtNruip7L9B2FxKAHjEPZrducbLSdkyQzvcWQ5KUVxfOq',
  'trusted_domains' =>
  array (
    0 => 'cloud.example.org',
  ),
  'datadirectory' => '/var/www/html/data',
  'dbtype' => 'pgsql',
  'version' => '29.0.4.1',
  'objectstore' =>
  array (
    'class' => '\\OC\\Files\\ObjectStore\\S3',
    'arguments' =>
    array (
      'bucket' => 'acme-nextcloud',
      'autocreate' => false,
      'key' => 'SCWRJTC5M33AEX3S6X3Q',
      'secret' => '1d5f516e-941c-40c6-8f2b-76d5dcdf51d1',
      'hostname' => 's3.fr-par.scw.cloud',
      'port' => 443,
      'use_ssl' => true,
      'region' => 'fr-par',
      'use_path_style' => true,
    ),
  ),
  'installed' => true,
);
