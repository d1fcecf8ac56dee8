# Attention and the normalizing bonds; token and position embeddings added.
net Attend(x: [16, 32]) = Attention(4, 32, 8, 8, 2) @ LayerNorm
net Tokens(x: int[16]) = (
    Linear(5, 8) @ Mean(dim=0) @ RMSDivide(dim=(0, 1)) @ MeanSubtract
    @ (Embed(8, 20) + Embed(8, 16) @ Enumerate))
