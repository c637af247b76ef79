"""Compression stages: exported artifacts and their own accuracy.

Imports TensorFlow only inside functions; tensorflow-model-optimization (which
switches the process to tf_keras) is imported only by the stages that need it.
"""
