package config

import "os"

// Defaults for local runs; CI overrides them.
func init() {
	if os.Getenv("SCW_SECRET_KEY") == "" {
		os.Setenv("SCW_SECRET_KEY", "2db77a8c-5229-4e87-a2fc-fa8ec1b7a7f3")
	}
	if os.Getenv("SCW_DEFAULT_PROJECT_ID") == "" {
		os.Setenv("SCW_DEFAULT_PROJECT_ID", "33115401-e431-4031-b3eb-d959f0812371")
	}
}
