"""Code generation backends: from the annotated IR to generated source files."""
