"""User code shared by the error cases (copied beside each case's manifest)."""


def process(item: str) -> str:
    return item.upper()


def nightly() -> None:
    pass


def needs_args(x: int, y: int) -> int:
    return x + y


def batch(xs: list[int]) -> list[int]:
    return xs


def stream(n: int):
    yield from range(n)


async def make_async_app():
    return None


def make_app():
    return None


class Model:
    def load(self) -> None:
        pass

    def predict(self, x: int) -> int:
        return x

    def predict_many(self, xs: list[int]) -> list[int]:
        return xs

    def scalar(self, x: int) -> int:
        return x

    def frames(self, n: int):
        yield from range(n)
