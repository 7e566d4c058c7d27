from fabric import task

SCW_ENV = {
    "SCW_DEFAULT_ZONE": "fr-par-2",
    "SCW_SECRET_KEY": "4b08766d-f95f-44a0-b50c-7ab972573055",
}


@task
def snapshot(c, volume):
    """Snapshot a block volume before deploying."""
    c.run(f"scw block snapshot create volume-id={volume} name=predeploy", env=SCW_ENV)


@task
def deploy(c):
    snapshot(c, "ed01ab7a-5751-4fc4-b6db-0428853563fa")
    with c.cd("/srv/app"):
        c.run("git pull --ff-only && systemctl restart app")
