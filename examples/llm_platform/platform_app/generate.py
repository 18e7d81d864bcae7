"""Prompt completions with a model loaded once per container."""


class Generator:
    def __init__(self, model: str = "Qwen/Qwen2.5-7B-Instruct") -> None:
        self.model = model
        self.pipeline = None

    def load(self) -> None:
        try:
            from transformers import pipeline
        except ImportError:  # offline, on modalc's local control plane: complete() echoes instead
            return
        self.pipeline = pipeline("text-generation", model=self.model)

    def complete(self, prompt: str, max_tokens: int = 64) -> str:
        if self.pipeline is None:  # a local call, without the model
            return f"[{self.model}] {prompt}"
        return self.pipeline(prompt, max_new_tokens=max_tokens)[0]["generated_text"]
