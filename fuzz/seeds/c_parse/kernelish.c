int f(int x)
{
	for_each_cpu(i)
		sum += g(i);
	return h(x);
}
#define M(a) k(a)
static struct s { int a; } v;
typedef enum e { A } e_t;
