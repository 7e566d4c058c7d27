broker_url = "sqs://JmpMYurOBy2jO2kHv8KT:b9JOYNN9nduThgO09gd7VY5NayafJWR6qTtrlRqokMWpR9mSUNC4EbnMKUXttU7B@"
broker_transport_options = {
    "region": "fr-par",
    "visibility_timeout": 3600,
    "polling_interval": 1,
    "predefined_queues": {
        "celery": {
            "url": "https://sqs.mnq.fr-par.scaleway.com/project-24cd3836-cef2-440a-80f0-988b6f7b06c8/celery",
        },
    },
}
task_default_queue = "celery"
result_backend = "redis://10.1.0.7:6379/1"
worker_prefetch_multiplier = 1
