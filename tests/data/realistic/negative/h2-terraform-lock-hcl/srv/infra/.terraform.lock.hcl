# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/scaleway/scaleway" {
  version     = "2.41.3"
  constraints = "~> 2.41"
  hashes = [
    "h1:ZRx1BRNL3O8POdl108AQCt+9L8qMxF58neohO9YXRHU=",
    "zh:0230c22db81529d2a1e77d65379aa14419461d16f7c8257ccef306e3a7071f89",
    "zh:0ece1c988dd5d62bac2c6ffa3dc361e87e77e05d88910186c1222ac42f6502b6",
    "zh:2e2e00ca2dde441b64c535592c6427c122ad004f6ad4af5ab815c286f2efea8e",
    "zh:34ca42d4707fe71ea847b62edfecda38da96110b6314c265654bded0df4b3738",
    "zh:3e00e6fd05c5c24fccbdbfc900929043b9aba49e8507241c1c9e31dad10e3e91",
    "zh:5122732814398e53ab4d158929bd2091164a882edd348c7639506a3f2231ba2b",
    "zh:5977eed43cc1f1b406630e51f57c4cff27a09423fd7178c5e063769b1320e496",
    "zh:6a0b19acd2ab06d23e4747e3dc756d0ba9d4563f310fe6edc82b9787e34d73e7",
    "zh:771ffeeeebc06ba6ee56eef9ec00555b2f887f9cb802d002767333525732290d",
    "zh:aaac4f5a928372073d9f26c71625f68ad66e9884fbaa29077ef2244110e64211",
    "zh:c175dbdd6970ba9b960b12c1b4d39da943844bf163a48c80733094553d05467c",
    "zh:e1b77d8ff3a0de299994bafc7480b078a51435bfaa5e97f8d2c8740438afef8a",
  ]
}
