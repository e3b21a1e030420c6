"""SecureConnect's Locust workload (`load.locustfile` in chaos.yaml); loaded only inside Locust processes."""
