variable "scw_access_key" {
  description = "Scaleway access key of the terraform IAM application"
  type        = string
  default     = "SCW0ME49WXBH4CVNQBRR"
}

variable "scw_secret_key" {
  description = "Scaleway secret key"
  type        = string
  sensitive   = true
  default     = "bff564a3-69ca-4fc4-aecf-281fd747028d"
}

variable "scw_project_id" {
  type    = string
  default = "4e4709dc-3e1f-4b35-8807-23ad68ad4b4b"
}

variable "region" {
  type    = string
  default = "fr-par"
}

variable "instance_type" {
  type    = string
  default = "DEV1-S"
}
