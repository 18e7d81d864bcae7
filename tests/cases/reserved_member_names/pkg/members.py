class Service:
    def modal(self) -> None:
        pass

    def app(self, x: int) -> int:
        return x

    def run(self) -> None:
        pass
