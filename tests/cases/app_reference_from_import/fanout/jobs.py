from modalc_app import post as remote_post


def nightly():
    remote_post.remote("done")


def post(message: str) -> None:
    print(message)
