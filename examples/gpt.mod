# A character-level GPT in Modula 2's form: 96 symbols (printable ASCII and newline),
# a context of 64 characters, no layer norms.
param vocab = 96
param ctx = 64
param heads = 4
param d_embed = 128
param d_query = 32
param d_value = 32
param blocks = 4

net GPT(x: int[ctx]) = GPT(vocab, heads, d_embed, d_query, d_value, blocks)
