# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/scaleway/scaleway" {
  version     = "2.40.0"
  constraints = "~> 2.40"
  hashes = [
    "h1:blmJUfHNnnHw/KjJOMo3/8R3B8a+W6UCLg/BUDaseRE=",
    "zh:e9a5180ac6d04423fc66912c706f2f989511e3f300be1c4585b5b32f82db6b0d",
    "zh:5e19e9bda2e1442522bccf96244b36a5b0fd08933b2688a1bb3a4182153befd7",
    "zh:3892ff587b94e8e77e1bd3a8a1a1d2a5caf20b90fee8851c6162a7823c9cff8d",
    "zh:a11a81b02b661058dcb5f13e399dc3255d2081d921b8591997810d5f3f692add",
    "zh:eef81bbe3c5b6460225272a7a6328ef31e0f522de45562d0bf0bb5a16b92f201",
  ]
}
