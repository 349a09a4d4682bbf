export { CounterRng, pcgHash, uniform } from './rng';
export { argmax, candidates, checkSamplingParams, drawFrom, penalizedLogits, sample, SamplingParamsError, type Candidates } from './sample';
