"""evalstack: is the fine-tuned model better than the base model on your real tasks, and can it ship?"""

__version__ = "0.1.0"
__all__ = ["__version__"]
