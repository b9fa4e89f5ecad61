"""mildip-ld: a linked-data store for military diplomacy.

Data flows one way: source -> assertions -> validate -> infer -> store -> serve.
"""

__version__ = "0.1.0"
