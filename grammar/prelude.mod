# The modc prelude: standard compounds written in the modc language itself.
#
# MLP, Attention and GPT equal the compounds of the same names in Modula 2
# (modula/compound.py): the same atoms in the same order, the same masses and the
# same scalars. ResMLP and ResCNN keep the structure of Modula 1's compounds.
# Attention is always causal, as GPT uses it.

# Modula's MLP builds Linear(d_out, width) @ ReLU, composes depth - 2 hidden layers
# onto it, and ends with Linear(width, d_in); depth below 2 gives two layers.
def MLP(d_out, d_in, width, depth) = (
    Linear(d_out, width) @ ReLU @ (Linear(width, width) @ ReLU) ** max(depth - 2, 0)
    @ Linear(width, d_in))

# Multi-head attention: W @ (1/3 * ApplyAttentionScores) @ (V, scores). The 1/3
# makes the block's sensitivity 1 (the tuple (V, scores) has sensitivity 3).
def Attention(heads, d_embed, d_query, d_value, scale) = (
    Linear(d_embed, heads * d_value) @ MergeHeads
    @ (1/3 * ApplyAttentionScores)
    @ (SplitHeads(heads) @ Linear(heads * d_value, d_embed),
       Softmax(scale) @ CausalMask @ AttentionQK @ Rope(d_query)
       @ (SplitHeads(heads) @ Linear(heads * d_query, d_embed),
          SplitHeads(heads) @ Linear(heads * d_query, d_embed))))

# A residual connection scaled for depth L: (1 - 1/L) * Identity + 1/L * branch.
def Residual(L, branch) = (1 - 1/L) * Identity + 1/L * branch

# GPT without layer norms: Embed of mass 1, blocks tared to blocks_mass, each block
# an attention and an MLP residual with L = 2 * blocks.
def GPT(vocab, heads, d_embed, d_query, d_value, blocks, blocks_mass=5,
        attention_scale=1, final_scale=1) = (
    final_scale * Linear(vocab, d_embed)
    @ tare((Residual(2 * blocks, Linear(d_embed, 4 * d_embed) @ GELU
                                 @ Linear(4 * d_embed, d_embed))
            @ Residual(2 * blocks, Attention(heads, d_embed, d_query, d_value,
                                             attention_scale))) ** blocks,
           blocks_mass)
    @ Embed(d_embed, vocab))

# Modula 1's residual MLP: residue = MeanSubtract @ Abs @ Linear @ RMSDivide.
def ResMLP(width, blocks, block_depth, d_in, d_out) = (
    Linear(d_out, width)
    @ tare(Residual(blocks, (MeanSubtract @ Abs @ Linear(width, width) @ RMSDivide)
                            ** block_depth) ** blocks, 1)
    @ Linear(width, d_in) @ Flatten)

# Modula 1's residual CNN: the same residue with convolutions, normalized over
# channels and positions, then average pooling and a linear read-out.
def ResCNN(width, blocks, block_depth, c_in, d_out, blocks_mass=20) = (
    Linear(d_out, width) @ Flatten @ AvgPool
    @ tare(Residual(blocks, (MeanSubtract(dim=(-3, -2, -1)) @ Abs @ Conv2D(width, width)
                             @ RMSDivide(dim=(-3, -2, -1))) ** block_depth) ** blocks,
           blocks_mass)
    @ Conv2D(width, c_in))
