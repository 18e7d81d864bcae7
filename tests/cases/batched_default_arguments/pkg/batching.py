def batch_scaled(xs: list[int], factors: list[int] = []) -> list[int]:
    return xs
