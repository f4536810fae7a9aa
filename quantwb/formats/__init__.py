"""What a written variant is (GGUF types and header facts, manifests, the variant's kind): below quantize/ and evaluate/."""
