variable "scw_access_key" {
  description = "Scaleway access key of the terraform IAM application"
  type        = string
  default     = "SCWHFV46A7G44WS0ZA6Z"
}

variable "scw_secret_key" {
  description = "Scaleway secret key"
  type        = string
  sensitive   = true
  default     = "efa5464c-ad4f-404d-8a0a-050fd71c06ab"
}

variable "scw_project_id" {
  type    = string
  default = "e270ed8a-a02b-4dc1-8ae8-79e1e49d6501"
}

variable "region" {
  type    = string
  default = "fr-par"
}

variable "instance_type" {
  type    = string
  default = "DEV1-S"
}
