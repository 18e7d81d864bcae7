class Sized:
    def __init__(self, *, size: int, name: str, flag: bool) -> None:
        self.size = size

    def predict(self, x: int) -> int:
        return x
