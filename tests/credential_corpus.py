"""The corpus the credential rules are tuned against, both ways (tests/test_credentials.py).

ALLOWED: values from real manifests, Dockerfiles and model cards that must compile. CREDENTIALS: fake but
realistic credentials (right prefix, length and alphabet; random, so they grant nothing) that must be refused.
Each entry is (the key it is written under, or "" for a value anywhere, the value). Known prefixes are split
across two string literals (`"gh" "p_..."`) so secret scanners reading this file do not take them for leaks.
Add to both lists when a rule changes: the test reports how many of each pass.
"""

from __future__ import annotations

# --- values that only look random --------------------------------------------------------------------

MODEL_IDS = [
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
    "nvidia/Llama-3_1-Nemotron-Ultra-253B-v1",
    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
    "meta-llama/Llama-3.2-11B-Vision-Instruct",
    "mistralai/Mixtral-8x22B-Instruct-v0.1",
    "TheBloke/Mistral-7B-Instruct-v0.2-GGUF",
    "stabilityai/stable-diffusion-xl-base-1.0",
    "black-forest-labs/FLUX.1-schnell",
    "openai/whisper-large-v3-turbo",
    "Qwen/Qwen2.5-Coder-32B-Instruct-GPTQ-Int4",
    "Qwen/Qwen2-VL-72B-Instruct-AWQ",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "microsoft/Phi-3.5-mini-instruct",
    "google/gemma-2-27b-it",
    "intfloat/multilingual-e5-large-instruct",
    "cross-encoder/ms-marco-MiniLM-L-6-v2",
    "BAAI/bge-reranker-v2-m3",
    "nomic-ai/nomic-embed-text-v1.5",
    "mixedbread-ai/mxbai-embed-large-v1",
    "Snowflake/snowflake-arctic-embed-l-v2.0",
    "unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit",
    "hf-internal-testing/tiny-random-LlamaForCausalLM",
    "timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k",
    "timm/eva02_large_patch14_448.mim_m38m_ft_in22k_in1k",
    "EleutherAI/gpt-neox-20b",
    "bigscience/bloomz-7b1-mt",
    "Salesforce/blip2-opt-2.7b",
    "jinaai/jina-embeddings-v3",
    "nvidia/NV-Embed-v2",
    "TheBloke/Llama-2-70B-Chat-GPTQ",
    "facebook/nllb-200-distilled-600M",
    "pyannote/speaker-diarization-3.1",
    "Systran/faster-whisper-large-v3",
    "ByteDance/SDXL-Lightning",
    "h94/IP-Adapter-FaceID",
    "lllyasviel/control_v11p_sd15_openpose",
]

URLS_AND_PATHS = [
    "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
    "flash_attn-2.7.4.post1+cu12torch2.5cxx11abiFALSE-cp312-cp312-linux_x86_64.whl",
    "https://github.com/Dao-AILab/flash-attention/releases/download/v2.6.3/"
    "flash_attn-2.6.3+cu123torch2.4cxx11abiTRUE-cp311-cp311-linux_x86_64.whl",
    "https://download.pytorch.org/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl",
    "https://download.pytorch.org/whl/nightly/cu126",
    "https://files.pythonhosted.org/packages/3c/b2/4b1c8e5b9b1e7d3f8a6c2e9d0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8/"
    "xformers-0.0.28.post3-cp312-cp312-manylinux_2_28_x86_64.whl",
    "https://huggingface.co/TheBloke/Mistral-7B-Instruct-v0.2-GGUF/resolve/main/mistral-7b-instruct-v0.2.Q4_K_M.gguf",
    "https://huggingface.co/stabilityai/sdxl-vae/resolve/ec3a2e8e5e8e7e1c3d4c5b6a7f8e9d0c1b2a3f4e/diffusion_pytorch_model.safetensors",
    "https://raw.githubusercontent.com/openai/CLIP/dcba3cb2e2827b402d2701e7e1c7d9fed8a20ef1/clip/bpe_simple_vocab_16e6.txt.gz",
    "git+https://github.com/huggingface/transformers.git@9c8f3b7e0a1d2c4b5e6f7a8b9c0d1e2f3a4b5c6d",
    "gs://my-training-bucket/checkpoints/Llama-3-8B-Instruct/step-12000/model-00001-of-00004.safetensors",
    "gs://gcp-public-data-landsat/LC08/01/044/034/LC08_L1GT_044034_20130330_20170310_01_T2/",
    "s3://ml-artifacts-prod/runs/2024-11-03T12-00-00Z/ViT-L-14-336px/open_clip_pytorch_model.bin",
    "hf://datasets/HuggingFaceFW/fineweb-edu/sample/10BT/000_00000.parquet",
    "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    "nvcr.io/nvidia/pytorch:24.10-py3",
    "ghcr.io/huggingface/text-generation-inference:2.4.1",
    "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
    "nvcr.io/nvidia/tritonserver@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "/root/.cache/huggingface/hub/models--meta-llama--Meta-Llama-3-8B-Instruct/snapshots/"
    "5f0b02c75b57c5855da9ae460ce51323ea669d8a",
    "/cache/models/sentence-transformers_paraphrase-multilingual-MiniLM-L12-v2",
    "arn:aws:iam::123456789012:role/modal-oidc-s3-reader",
    "modal-reader@my-project-123456.iam.gserviceaccount.com",
    "https://registry.npmjs.org:443/@types/node/-/node-22.9.0.tgz",
    "https://example.com:8443/api/v1/models@latest",
    "postgresql://app:${DB_PASSWORD}@db.internal:5432/app",
    "redis://cache.internal:6379/0",
]

HASHES = [
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
    "h1:Q5bIC4Z2a7bHZ4Q2i0H5r6YQv2k5MHY5c6m9R0wQ6bE=",
    "h1:4RFdWv4c0N+IqaDqaJPSUMXuY/3ggeHeNQyyeSfdlR0=",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "--hash=sha256:5f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",
    "5f3a2b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
    "d41d8cd98f00b204e9800998ecf8427e",
    "123e4567-e89b-12d3-a456-426614174000",
    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
]

ENV_VALUES = [
    ("MODEL_CLASS", "AutoModelForSequenceClassification"),
    ("MODEL_CLASS", "Wav2Vec2ForSequenceClassification"),
    ("PIPELINE", "StableDiffusionXLControlNetImg2ImgPipeline"),
    ("ARCHITECTURE", "Qwen2VLForConditionalGeneration"),
    ("ARCHITECTURE", "XLMRobertaForTokenClassification"),
    ("SERVICE", "MyCompanyProductionInferenceServiceV2"),
    ("SPARK_SERIALIZER", "org.apache.spark.serializer.KryoSerializer"),
    ("MAIN_CLASS", "com.example.inference.ModelServerApplication"),
    ("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True,max_split_size_mb:512"),
    ("TORCH_CUDA_ARCH_LIST", "8.0;8.6;8.9;9.0+PTX"),
    ("NCCL_SOCKET_IFNAME", "eth0,ens5"),
    ("LOG_FORMAT", "%(asctime)s %(levelname)s %(name)s: %(message)s"),
    ("TOKENIZERS_PARALLELISM", "false"),
    ("MAX_NEW_TOKENS", "4096"),
    ("HF_HUB_ENABLE_HF_TRANSFER", "1"),
    ("HF_TOKEN_PATH", "/run/secrets/hf_token"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/service-account.json"),
    ("SECRET_NAME", "prod-database-credentials"),
    ("API_KEY_HEADER", "X-Api-Key"),
    ("AUTH_MODE", "oauth2-client-credentials"),
    ("PASSWORD_FILE", "/run/secrets/postgres-password"),
    ("TOKEN_URL", "https://auth.example.com/oauth/token"),
    ("OPENAI_API_KEY", "${OPENAI_API_KEY}"),
    ("DB_PASSWORD", "<set in the modal secret>"),
    ("SENTRY_ENVIRONMENT", "production-eu-west-1"),
    ("WANDB_PROJECT", "llama3-finetune-lora-r16-alpha32"),
    ("TZ", "Europe/Berlin"),
    ("CUDA_VISIBLE_DEVICES", "0,1,2,3"),
    ("TRANSFORMERS_CACHE", "/models/hub"),
    ("VLLM_ATTENTION_BACKEND", "FLASHINFER"),
]

COMMANDS = [
    "huggingface-cli download meta-llama/Llama-3.1-8B-Instruct --local-dir /models/Llama-3.1-8B-Instruct",
    "pip install flash-attn==2.7.4.post1 --no-build-isolation",
    "apt-get install -y build-essential libsndfile1 libgl1-mesa-glx",
    "wget -q https://github.com/git-lfs/git-lfs/releases/download/v3.5.1/git-lfs-linux-amd64-v3.5.1.tar.gz",
    "task-management-service-production-deployment",
    "opentelemetry-instrumentation-fastapi==0.49b2",
    "nvidia-cudnn-cu12==9.1.0.70",
]

ALLOWED: list[tuple[str, str]] = (
    [("", v) for v in MODEL_IDS + URLS_AND_PATHS + HASHES + COMMANDS]
    + ENV_VALUES
    + [("MODEL_ID", m) for m in MODEL_IDS]
)

# --- credentials: fake, realistic, refused -----------------------------------------------------------

KNOWN_FORMATS = [
    ("", "sk-proj-ZyGJZegFowNN_HRnH9sijnOIQpLXc8OixodkvXqLMWXb4C-d"),
    ("", "sk-ant-api03-EgR66qruGNpXv-NDalKddpJ7C8TA_vJCO-ZJINMsnFPudywCSQSUmVcRvRzwllOL_fuHxiuvsh"),
    ("", "sk_live_51XV8pQybce1ZARM1mOlyffhHBDym5DM9YUkRaRCBsPUgIMY0f1643Tt0OHcYzIn227YWRX0n"),
    ("", "rk_live_51THhRW9tHYowFJXvTiQfnumjPQpJ3zHHbLjHeIYN0KIfuflpxO8Bzjr64QX6lrDAae5wDI0ss"),
    ("", "sk_test_51WNPoUpmh3xDXLNKMDupy89DMeh4p6wLfXvtjen7TY9w3M4coEPIHCWC5UodjMhPc4cwvvg"),
    ("", "whsec_Mity31e9msrg9ZaFoiC39e0YLV5sWzkk"),
    ("", "hf_QykCjwGqd81nuVzHgMqemfirpLY9fYbVXg"),
    ("", "AKIA0P2WCPZ7Q97WY06M"),
    ("", "ASIA1YMDKXPQ8FWB32UQ"),
    ("", "ghp_jdODeEZJkjcjk69kemAdywYj2DR3lG7hHtos"),
    ("", "gho_I5MDnV0heqNfxmJnINXcwFaXbdT2dpbPGPcJ"),
    ("", "github_pat_11pgSxeUXAS43sgkNhKyJO3M_PXRYwSqjcJKiuWTYXv0MJMwN1ANSVJzRt2RMBRBga2PAHl4x1mVEy9"),
    ("", "glpat-yfim1C8xbfjg1ZBZBred"),
    ("", "xoxb-997447035906-148201017568-2aiCBNlyhUXEBZTYKvKtRCXQ"),
    ("", "xoxp-237367701213-643053928547-571183158345-c9f59a35db1db5855621d0a4e06bb2c2"),
    ("", "https://hooks.slack.com/services/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"),
    (
        "",
        "https://discord.com/api/webhooks/"
        "475756303270461869/woPBRmIJXaAX2dYP2-DWlLed9pQNza2Yvo2l3FxEXGsJbByD8k46s717JxSdJGxz82Um",
    ),
    ("", "AIza6F6GV0aUcyvaOqIb2jog8flRAW43Wj_STbT"),
    ("", "ya29.a0AfB_3LmmSzFinfGa8D7dEYiamsFeiVUqslnKOBS4G3bwqxEuoai9RnJ06lL6y7w8AlcaMJ2SuOdhid1br"),
    ("", "npm_zwxRhpPAvkZ0UpI8NnVaJaDE65K3ivxptlUr"),
    ("", "ak-2Xj3zYgSAC47B5tWdbd7hU"),
    ("", "as-fSoJvxJ0EWELrZRHRCMfOT"),
    ("", "key-i26oa1dqfxo0xjlfrk9fphpilrzgb2lb"),
    ("", "dop_v1_483ce5925784652ba1de5fd257ca59f65e2b6147e3d90fa0f3d52846cf620d40"),
    ("", "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"),
    ("", "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"),
    ("", "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"),
    ("", "pypi-AgEIcHlwaS5vcmcQ1m3phFCEmhGtc5FHf0X37DGAqqCIETSLmL4gYoCkEXHv065yJqAMUCirI_kDF0QMxnw3m"),
    ("", "dapi6beca37f9e6987e2e906f5a0263fe6ea"),
    ("", "r8_vvrdf7OPQQcBXdfVrxrxj6XPxyf72YeuTxA2Z"),
    ("", "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"),
    ("", "lin_api_rg9ThU6ZlSPxnVWPeyn4lhnck4whWseKkwDlHIxV"),
    ("", "AGE-SECRET-KEY-1UAFN3SHAC7E3UYH46YC4Z2FE9HUUDUSTPR26PR4V5FJPJU2G92EHPHE6KQ"),
    ("", "-----BEGIN RSA PRIVATE KEY-----"),
    ("", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGXa3kIBCADb2j"),
    ("", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    (
        "",
        "DefaultEndpointsProtocol=https;AccountName=mlstore;AccountKey="
        "ts9FyERVh0tQrIEJWlaG4XPWk13/U/zPemqJIhfulDeoHxeWolHQJOm2liIjRnwNMonEo+yN8ZpmARpFRKRfEg==;",
    ),
]

PASSWORDS_IN_URLS = [
    ("", "https://admin:hunter2@db.example.com/app"),
    ("", "redis://:p4ssw0rd-Xq9@cache.internal:6379/0"),
    ("", "postgresql://app:Tr0ub4d/or&3@db.internal:5432/app"),
    ("", "mongodb+srv://svc-ml:TR5KX2VvxF78qtce@cluster0.ab1cd.mongodb.net/?retryWrites=true"),
    ("", "amqp://worker:s3cr3t+p/w@rabbitmq:5672/%2F"),
    ("", "https://user:ghp_notreal@github.com/org/repo.git"),
]

BY_NAME = [
    ("WANDB_API_KEY", "7ff88f6eeba4b0fb5a109e1d8eecf08d7cb18a4a"),
    ("DD_API_KEY", "815c1c7ab203f89f410411ef9637ebb7"),
    ("DD_APP_KEY", "2b1add9a9fc76e7ae57612cc09916743f84dd91a"),
    ("DATADOG_API_KEY", "04968a9e26cc7922344cd4736b64c17a"),
    ("TWILIO_AUTH_TOKEN", "04968a9e26cc7922344cd4736b64c17b"),
    ("AWS_SECRET_ACCESS_KEY", "VFBNYs/jHj8B1I9U5hY4tL+EUmDoEgAz0UPPR8Fh"),
    ("POSTGRES_PASSWORD", "correct-horse-battery-staple"),
    ("DB_PASSWORD", "Tr0ub4d/or&3"),
    ("REDIS_PASSWORD", "hunter22"),
    ("DJANGO_SECRET_KEY", "django-insecure-4@aKKVN5q(Ds1c3WNpN5qS!xv2#2Itqmt81dJgJlypHv(=rtrH"),
    ("JWT_SECRET", "sCkm2xs9LpRD6j2tqWv76Bg7DTFtcMoe724Ac8Wo1dYC9pUWScTB4QNZFF5CIw3z"),
    ("CLIENT_SECRET", "Zx9Qw8Er7Ty6Ui5Op"),
    ("apiKey", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"),
    ("PINECONE_API_KEY", "2d6e1f3a-4b5c-6d7e-8f9a-0b1c2d3e4f5a"),
    ("ENCRYPTION_KEY", "7b3590b47f810dc186093542828914474b21e83146462b9f186ba88bfc452f04"),
]

UNPREFIXED_RANDOM = [
    ("", "2iQnfEf3V1oCW35xwEeVxaZhRJqcaxN1tXxsE8aE"),
    ("", "mQiLy2Nm5pffIjANSTY4cZbTVPmkxNPd"),
    ("", "ef3kdjwZa7aRdr6B5nm9UhNQfVeSo0sbhP2F9dDkrsSt0x1r"),
    ("", "Hkda0FBoMX9aEmrMlsNp64glLNruCoL7UEBDfueiON3rjvJED3WTSzZTLH1DWfot"),
    ("", "VFBNYs/jHj8B1I9U5hY4tL+EUmDoEgAz0UPPR8Fh"),
    ("", "ts9FyERVh0tQrIEJWlaG4XPWk13/U/zPemqJIhfulDeoHxeWolHQJOm2liIjRnwNMonEo+yN8ZpmARpFRKRfEg=="),
    ("", "2lCI4NMniQ7QHyE2bHnD_Ae8VmOIgNwU20wMjK7Yico"),
    ("", "AWqQAAU3-eQ4DUsxD98uvcp6m5Qcgh9nTizGoFiSKu4zAjque3OKlVciay-_uOzP"),
    ("", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz"),
    ("", "curl -H 'Authorization: Bearer mQiLy2Nm5pffIjANSTY4cZbTVPmkxNPd' https://api.example.com"),
]

CREDENTIALS: list[tuple[str, str]] = KNOWN_FORMATS + PASSWORDS_IN_URLS + BY_NAME + UNPREFIXED_RANDOM

# Credentials written as keys: an env variable's name, a tag's key, an alias.
CREDENTIAL_KEYS = [
    ("functions.process.env", "ghp_jdODeEZJkjcjk69kemAdywYj2DR3lG7hHtos"),
    ("app.tags", "xoxb-997447035906-148201017568-2aiCBNlyhUXEBZTYKvKtRCXQ"),
    ("volumes", "AKIA0P2WCPZ7Q97WY06M"),
    ("images.base.steps.5.env", "hf_QykCjwGqd81nuVzHgMqemfirpLY9fYbVXg"),
]
