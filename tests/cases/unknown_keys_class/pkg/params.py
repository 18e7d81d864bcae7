class Sized:
    def __init__(self, *, size: int) -> None:
        self.size = size

    def predict(self, x: int) -> int:
        return x
