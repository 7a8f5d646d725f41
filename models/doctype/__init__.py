"""Document-type classifier: hashed n-gram features (``dwc_core.Featurizer``) and a
logistic regression exported to ONNX. See README.md for the model card.
"""
