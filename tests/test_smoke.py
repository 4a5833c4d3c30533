def test_health_on_each_backend(client, server):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] in ("sqlite", "postgresql")
